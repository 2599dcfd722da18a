"""Error types. Every message names the file, parameter set or stage at fault and what to do.

The stage errors also carry curifactory's names (``CachersMismatchError``,
``InputSignatureError``, ...; curifactory defines them in ``curifactory.staging``), so that an
experiment's ``except cf.InputSignatureError`` or a test's ``pytest.raises(KeyError)`` written
against curifactory catches what cfcompile raises, while cfcompile's own ``except
CfcompileError`` (the CLI's one-line message) keeps catching them too.
"""


class CfcompileError(Exception):
    """Base of every error the CLI reports as a one-paragraph message instead of a traceback."""


class ProjectError(CfcompileError):
    """The project layout, an experiment module or a parameter module is unusable."""


class ParamsError(CfcompileError, RuntimeError):
    """``get_params()`` returned something that is not a list of parameter sets (a
    ``RuntimeError`` too, as curifactory raises for it)."""


class StageDefinitionError(CfcompileError):
    """A ``@stage``/``@aggregate`` declaration contradicts its function (raised at the call)."""


class StageInputError(CfcompileError, KeyError):
    """A stage asked for an artifact its record does not hold.

    A ``KeyError``, as curifactory raises for a missing input, so that code written against
    curifactory (``except KeyError``) catches it.
    """

    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument (quotes, escaped newlines); this is a
        # sentence, printed as one by the CLI
        return str(self.args[0]) if self.args else ""


class StageOutputError(CfcompileError):
    """A stage returned a different number of values than it declared outputs."""


class TraceError(CfcompileError):
    """``run()`` did something that cannot be known at compile time."""


class RecompileError(CfcompileError):
    """The experiment or its parameters changed since the workflow was compiled."""


# -- curifactory's names for stage errors (``curifactory.staging``), raised where it raises them


class CachersMismatchError(StageDefinitionError):
    """The number of cachers differs from the number of outputs (raised when the stage is
    called, as in curifactory)."""


class EmptyCachersError(StageDefinitionError):
    """``cachers=[]`` on a stage without outputs: it would count as cached forever."""


class InputSignatureError(StageDefinitionError):
    """An input is not a parameter of the function, or a suppressed missing input has no
    default value in the function's signature."""


class OutputSignatureError(StageOutputError):
    """A stage returned a different number of values than it declared outputs."""


class LazyWithoutCachersError(OutputSignatureError, StageDefinitionError):
    """``Lazy`` outputs declared without cachers: curifactory raises ``OutputSignatureError``;
    it is a declaration error too, so both ``except`` clauses catch it."""


class ExecutingWithSkippedInputError(CfcompileError):
    """Defined because curifactory exports it; cfcompile has no DAG-skipped inputs to feed."""

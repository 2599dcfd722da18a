"""Error types. Every message names the file, parameter set or stage at fault and what to do."""


class CfcompileError(Exception):
    """Base of every error the CLI reports as a one-paragraph message instead of a traceback."""


class ProjectError(CfcompileError):
    """The project layout, an experiment module or a parameter module is unusable."""


class ParamsError(CfcompileError):
    """``get_params()`` returned something that is not a list of parameter sets."""


class StageDefinitionError(CfcompileError):
    """A ``@stage``/``@aggregate`` declaration contradicts its function (caught at import)."""


class StageInputError(CfcompileError):
    """A stage asked for an artifact its record does not hold."""


class StageOutputError(CfcompileError):
    """A stage returned a different number of values than it declared outputs."""


class TraceError(CfcompileError):
    """``run()`` did something that cannot be known at compile time."""


class RecompileError(CfcompileError):
    """The experiment or its parameters changed since the workflow was compiled."""

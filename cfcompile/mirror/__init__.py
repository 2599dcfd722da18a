"""Code that exists only to mirror curifactory: its modules' names and behaviour where a
curifactory user meets them outside ``run()`` and ``@stage`` (``run_experiment``, ...).
``compat.ALIASES`` maps curifactory's module names onto these, and onto the researcher API at
the top of the package; cfcompile's own command line and project discovery are never reached
through a curifactory name (``compat``)."""

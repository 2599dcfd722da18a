"""A project-root module named like the standard library's ``random``: no route may import it
in place of the standard library (the project root comes after it on sys.path, as
curifactory appends the working directory)."""

SHADOW = "the project's random.py"

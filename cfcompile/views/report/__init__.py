"""``--report``: one self-contained HTML page about a compiled experiment and its results.

``page`` assembles it (jinja2, autoescaped), ``plots`` analyses the results table (what
varies, repetitions grouped, one plot per metric and parameter), ``reportable_render`` renders what
stages registered with ``record.report(...)``, and ``history`` keeps every report beside the
latest one with an index.
"""

"""The campaign as an Excel workbook a clerk can fill: ``edubot template``, ``import`` and
``export-config``.

::

    sheets.py    the sheets, their Chinese headers and the config field behind each column
    cells.py     one cell's text ⇄ one config value (lists, roles, times, reminders)
    template.py  writing a workbook: the empty template, or a config's campaign
    reading.py   reading a workbook by its headers into rows, with every cell problem
    building.py  rows → the config's campaign sections, checked across sheets, in Chinese
    toml_file.py replacing the campaign sections of a TOML file, comments kept; and back

The TOML config stays the one source of truth: import writes it, export reads it.
"""

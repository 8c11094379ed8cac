"""A self-contained static HTML report of the studies stored in a results folder.

``write_report(out_dir)`` writes ``out_dir/report/``: ``index.html`` (one line per
study: name, question, cells, runs, link) and one page per study with its question and
paper (the study's docstring), its summary table (the columns of ``landscope show``, every
parameter that varies between cells, 95 % intervals of fractions where the summary has
them; sortable by a click on a header), its figures, its protocol settings and the
provenance of every cell (parameters, seeds, runs, wall time, landscope and torch
versions, device, dtype, stored tolerances). Everything is read from the store and the
study objects; nothing is recomputed. Pages come from Jinja2 templates shipped in the
package (``templates/``), with autoescaping on: a value from the store is text, never
markup.

Figures are static SVG files, the same drawings as ``landscope plot`` (``render`` of the
study's figure specs), put beside the pages and shown with ``<img>``. Interactive plots
(zoom, hover values) would need a plotting library in the page: either fetched from a CDN,
which breaks offline and from ``file://``, or inlined at a few hundred kB to MB per page;
and they would draw the figures a second time, in a second drawing code that can
disagree with the PNG/SVG of ``landscope plot``. The exact values are in the sortable
table on the same page, so static SVG is the choice: sharp at any zoom, no code to run,
and reproducible (redrawing unchanged results gives an identical file, so two reports of
the same store are identical). The only script is the small inline table sorter.

The report opens from disk (``file://``) or any static web server, offline: no CDN, no
external resource.
"""

from .write import REPORT_DIR, write_report

__all__ = ["REPORT_DIR", "write_report"]

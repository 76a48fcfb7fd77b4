"""What the experiment scripts share, one module per job.

``arguments`` (flags, folders, inputs, ``--smoke``), ``runs`` (training runs and stylised
photos, resumable), ``scoring`` (distances and comparisons), ``reports`` (markdown, JSON,
provenance), ``figures`` (labelled grids), ``comparison`` (trained-network comparisons, built
on all of them).
"""

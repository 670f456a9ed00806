"""The report stage: what ``score`` wrote, made into pages people look at and listen to (:mod:`.site`), with the
statistics a paper needs (:mod:`.stats`) and exports for it (:mod:`.latex`, :mod:`.svg`)."""

from audiomlqa.report.site import Site, build_report

__all__ = ["Site", "build_report"]

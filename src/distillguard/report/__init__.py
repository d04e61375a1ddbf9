"""The analyst's HTML report: one self-contained page per findings folder.

``write_report(findings, con, out_path, labels=None)`` renders the summary, score
distribution, ranked campaigns (account graph and timeline each), per-account evidence
with example prompts and the MITRE ATLAS mapping. See docs/report.md.
"""

from distillguard.report.write import write_report

__all__ = ["write_report"]

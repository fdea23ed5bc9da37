"""Federated computational governance: rules, policies, data-product scores, breaking changes.

Custom rules import what they need from here:

    from meshkit.govern import rule, Violation
"""

from meshkit.govern.findings import Finding, Violation
from meshkit.govern.registry import Rule, rule
from meshkit.govern.view import Exposure, MeshView, Model, ProjectInfo, SourceTable

__all__ = ["Exposure", "Finding", "MeshView", "Model", "ProjectInfo", "Rule", "SourceTable",
           "Violation", "rule"]

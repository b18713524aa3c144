"""Tools to test layers: finite-difference gradient checks."""

from .gradcheck import GradcheckReport, gradcheck

__all__ = ["GradcheckReport", "gradcheck"]

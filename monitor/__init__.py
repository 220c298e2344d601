"""ecgmon: a privacy-preserving, on-device ECG monitor.

ecgmon is not a certified medical device; its findings are non-diagnostic and
belong in front of a clinician.
"""

__version__ = "0.1.0"

NON_DIAGNOSTIC_NOTICE = (
    "ecgmon is not a certified medical device: its findings are non-diagnostic "
    "and belong in front of a clinician."
)

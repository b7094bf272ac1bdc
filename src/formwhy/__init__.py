"""formwhy: why did this visitor abandon the form?

A trace of privacy-safe form events goes in; one of six abandonment classes comes out, with a calibrated
probability, a short reasoning and the recovery flow to trigger.
"""

__version__ = "0.1.0"

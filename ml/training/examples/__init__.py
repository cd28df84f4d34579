"""Example trainers that follow the custom-trainer protocol (ml/training/custom.py); use one as a template."""

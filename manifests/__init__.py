"""The Kubernetes manifests scaler applies, shipped as package data and usable on their own with
``oc apply -k``. ``manifests.build`` loads and edits them as data; nothing is string-templated."""

from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent

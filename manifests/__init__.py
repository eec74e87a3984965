"""The Kubernetes manifests scaler applies, shipped as package data and usable on their own with
``oc apply -k``. ``scaler.kube_objects`` loads and edits them as data; nothing is string-templated.
This package holds the YAML only; it imports nothing of scaler."""

from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent

"""The simulator behind the Kubernetes API: ``scaler sim serve``.

Serves the subset of the Kubernetes API that kubectl, oc and the OpenShift driver use, computed
from a ``scaler.sim.SimModel`` run in real time, so the real-cluster path is exercised for real
without a cluster. Plain HTTP on 127.0.0.1, no authentication: a test rig, not a cluster.
"""

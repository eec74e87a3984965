"""The real-cluster driver: ``OpenShiftCluster`` drives OpenShift or Kubernetes through
openshift-client and the ``oc``/``kubectl`` binary."""

from scaler.openshift.cluster import OpenShiftCluster
from scaler.openshift.options import OpenShiftOptions

__all__ = ["OpenShiftCluster", "OpenShiftOptions"]

"""The kubernetes client is imported only with this package, never by the backends' shared modules."""

from __future__ import annotations

import subprocess
import sys

CHECK = (
    "import sys\n"
    "import dtrain_jupyter, dtrain_jupyter.backends, dtrain_jupyter.backends.base, dtrain_jupyter.model.kinds\n"
    "before = 'kubernetes' in sys.modules\n"
    "from dtrain_jupyter.backends.kubernetes import KubernetesBackend\n"
    "print(before, 'kubernetes' in sys.modules, KubernetesBackend.name)\n"
)


def test_kubernetes_client_is_loaded_only_with_the_backend():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "True", "kubernetes"]

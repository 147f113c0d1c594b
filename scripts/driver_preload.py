"""Print the LD_PRELOAD value that lets mysql-connector-python's C extension load in any process.

The driver's wheel bundles OpenSSL 3.5 libraries; once a process has loaded the system's older
libcrypto (pytest imports hashlib before any conftest runs), the C extension cannot load and the
driver silently becomes 4-6x slower. Preloading the bundled libraries gives the whole process one
OpenSSL that satisfies both. Prints nothing when the wheel bundles none.
"""

import importlib.util
import os

spec = importlib.util.find_spec("mysql")
if spec and spec.submodule_search_locations:
    vendor = os.path.join(next(iter(spec.submodule_search_locations)), "vendor")
    libs = [os.path.join(vendor, name) for name in ("libcrypto.so.3", "libssl.so.3")]
    print(":".join(lib for lib in libs if os.path.exists(lib)))

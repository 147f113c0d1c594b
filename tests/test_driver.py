"""Guard: the MySQL driver's C extension is what the suite runs on (when the runner promises it)."""

import os

import pytest

import wfuwp


@pytest.mark.skipif(
    not os.environ.get("WFUWP_EXPECT_C_DRIVER"), reason="the runner does not preload the driver"
)
def test_mysql_driver_c_extension_loaded() -> None:
    assert wfuwp.DRIVER == "c"

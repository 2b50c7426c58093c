import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# The tests mirror the package (tests/core, tests/ops, tests/nn, ...); the helpers they
# share (course_problems, layering, backend_cases) stay here, on the path for all of them.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# A quick profile for CI and a thorough one for on-demand runs:
#   HYPOTHESIS_PROFILE=thorough pytest
settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# In CI (CI=true) the optional tools are installed by .ci/run, so a browser-, latex- or
# torch-marked test that skips for want of one means the set-up broke: fail it instead
# of letting the run go green with the cross-checks silently missing. A module that
# skips as a whole while it is collected (`torch = pytest.importorskip("torch")` at
# the top) never reaches the per-test hook, and its marks are not read yet: the
# collection hook below fails it when the reason names one of the tools CI installs.
_CI = os.environ.get("CI", "").lower() in ("true", "1")
_MISSING_TOOL = ("not installed", "could not import", "no module named", "did not start", "not found")
_CI_TOOLS = ("torch", "chromium", "websocket")


def _missing_tool(reason: str, tools: tuple[str, ...] | None = None) -> bool:
    reason = reason.lower()
    return any(s in reason for s in _MISSING_TOOL) and (tools is None or any(t in reason for t in tools))


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if not _CI or report.outcome != "skipped":
        return
    longrepr = report.longrepr
    reason = str(longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr)
    if _missing_tool(reason, _CI_TOOLS):
        report.outcome = "failed"
        report.longrepr = (f"CI=true: {collector.nodeid} must run in CI, but it skipped while "
                           f"being collected: {reason}")


def pytest_runtest_makereport(item, call):
    if not _CI or call.excinfo is None or call.excinfo.typename != "Skipped":
        return None
    if not any(item.get_closest_marker(m) for m in ("browser", "torch", "latex")):
        return None
    reason = str(call.excinfo.value)
    if not _missing_tool(reason):
        return None
    from _pytest.reports import TestReport

    report = TestReport.from_item_and_call(item, call)
    report.outcome = "failed"
    report.longrepr = f"CI=true: this test must run in CI, but it skipped: {reason}"
    return report

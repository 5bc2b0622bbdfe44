import collections
import importlib.util
import operator
from pathlib import Path


def test_operator_is_still_the_standard_library_module() -> None:
    """The source root `operator/` must never shadow the standard library's `operator`."""
    assert hasattr(operator, "itemgetter")
    assert collections.OrderedDict is not None
    spec = importlib.util.find_spec("operator")
    assert spec is not None and spec.origin is not None
    assert "site-packages" not in spec.origin and Path(spec.origin).parent.name != "operator"
    assert not (Path(__file__).resolve().parents[2] / "operator" / "__init__.py").exists()

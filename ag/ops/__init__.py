"""The Tensor op set, one module per family; ``ag.tensor`` re-exports every op.

The op modules import Tensor and the construction helpers from ``ag.tensor``,
which in turn imports the op modules at its end. Loading ``ag.tensor`` first,
here, makes ``import ag.ops.linalg`` (say) work on its own too.
"""

import ag.tensor  # noqa: F401

"""facelib: the tested implementation behind the face recognition and style transfer course."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow's C++ start-up chatter

from facelib.seeding import quiet_tensorflow, set_seed  # noqa: E402

__version__ = "0.1.0"
__all__ = ["set_seed", "quiet_tensorflow", "__version__"]

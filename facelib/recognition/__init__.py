"""The recognition system built on the faces facade: verification, search, the face database.

``verify`` (LFW protocol, ROC, heads), ``ann`` (exact or FAISS search), ``database`` (``FaceDatabase``),
``liveness`` (re-capture detection), ``encoding_cache`` (encodings of fixed image sets) and
``datasets`` (LFW and AT&T faces).
"""

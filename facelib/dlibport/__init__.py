"""A bit-exact port of dlib's face models to NumPy and Keras: parity tests with dlib decide every change.

``datfile`` reads dlib's ``.dat`` serialization; ``geometry`` holds dlib's transforms and rounding;
``detector`` (MMOD CNN), ``landmarks`` (5-point regression trees), ``encoder`` (the 128-d ResNet)
and ``align`` (150x150 chips) evaluate the models.
"""

"""ImageNet ConvNets and what they learn: backbones, neural style transfer, visualisation, conv arithmetic.

``backbones`` (SqueezeNet, VGG19), ``style`` (costs, recipes, ``stylize``), ``visualize`` (receptive
fields, top patches, activation maximisation), ``arithmetic`` (output shapes, strides) and
``synthetic`` (ECG, CT phantoms and video clips for 1D and 3D convolutions).
"""

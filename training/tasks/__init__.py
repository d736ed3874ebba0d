"""Fine-tuning tasks beyond scene classification: each adds its head, its targets and its metric.

``loop`` holds what they share (optimizer with layer decay, schedule, epochs, the model card,
``results.json``); ``segmentation`` and ``change`` are the dense tasks; ``dense_data`` reads
their samples (image + ``mask.png`` [+ ``b.<fmt>``]) and ``dense_models`` builds the encoder +
FPN decoder; ``dense_metrics`` scores them from one confusion matrix per split.
"""

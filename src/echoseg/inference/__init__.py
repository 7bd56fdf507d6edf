"""Inference on users' videos: the model with its input size and mask rule (`segmenter`), whole-video
prediction (`predict`), ED/ES and EF per beat (`phases`), live streaming (`stream`), deployment
exports (`export`). Inputs are read by `echoseg.data.inputs`; weights are found by
`echoseg.models.weights_files`; inference never imports training.

Main entry points (import from their modules; this package imports nothing heavy on its own):
- `echoseg.inference.segmenter.load_segmenter(checkpoint) -> Segmenter` (mask rule and input size from the weights)
- `echoseg.inference.predict.predict_videos(inputs, segmenter, out_dir, PredictSettings(...)) -> PredictReport`
- `echoseg.inference.views.model_view(frames, input_size) -> ModelView`: scanner exports cut to their fan
- `echoseg.inference.phases.detect_phases(curve, fps) -> Phases`, `beats_from_volumes(phases, volumes)`
- `echoseg.inference.stream.StreamingSegmenter(segmenter).push(frame) / .flush()`
- `echoseg.inference.export.export_onnx(model, path, size)`, `export_torchscript(model, path, size)`
"""

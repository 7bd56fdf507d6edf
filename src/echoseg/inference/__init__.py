"""Inference on users' videos: inputs (`sources`), whole-video prediction (`predict`), ED/ES and EF per
beat (`phases`), live streaming (`stream`), deployment exports (`export`).

Main entry points (import from their modules; this package imports nothing heavy on its own):
- `echoseg.inference.sources.read_video(path) -> VideoInput`, `discover_inputs(paths) -> [InputItem]`
- `echoseg.inference.predict.predict_videos(inputs, model, out_dir, ...) -> PredictReport`
- `echoseg.inference.views.model_view(frames, input_size) -> ModelView`: scanner exports cut to their fan
- `echoseg.inference.phases.detect_phases(curve, fps) -> Phases`, `beats_from_volumes(phases, volumes)`
- `echoseg.inference.stream.StreamingSegmenter(model).push(frame) / .flush()`
- `echoseg.inference.export.export_onnx(model, path, size)`, `export_torchscript(model, path, size)`
- `echoseg.inference.loading.load_for_inference(checkpoint) -> (model, meta, input_size)`
"""

"""clip_text: strings in, L2-normalised embeddings out (atelier/embedding_triton_model.py does the serving).

Each text is tokenized with the exported open_clip model's own tokenizer and encoded through the
`clip_text_encoder` ONNX model.
"""

import numpy as np

from atelier.embedding_triton_model import EmbeddingModel
from atelier.text_input import request_text


def decode_text(raw: bytes) -> str:
    if not (text := request_text(raw, "text")):
        raise ValueError("text is empty")
    return text


class TritonPythonModel(EmbeddingModel):
    input, encoder, encoder_input = "text", "clip_text_encoder", "input_ids"

    def load(self, version_dir, export):
        import open_clip  # here, after `atelier` (whose import readies torchvision for the CPU torch)

        # `atelier export` wrote the model's open_clip_config.json (and HF tokenizer files) here.
        self.tokenizer = open_clip.get_tokenizer(f"local-dir:{version_dir}")

    def info(self, export):
        """The embedding model's record, and the zero-shot label accuracy measured for it (if any)."""
        return {**export["embedding_model"], "label_accuracy": export.get("label_accuracy", {})}

    def read(self, raw):
        return [decode_text(item) for item in raw]

    def batch(self, texts):
        return self.tokenizer(texts).numpy().astype(np.int64)

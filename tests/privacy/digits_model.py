"""A small MLP for scikit-learn's 8×8 digits (the privacy tests' target architecture)."""

from torch import nn


def build() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))


def write_spec(folder, epochs: int = 60):
    """Copy this module into ``folder`` and write a spec for it (placeholder weights); return the spec path."""
    import shutil
    from pathlib import Path

    import torch
    import yaml

    folder = Path(folder)
    shutil.copy(Path(__file__), folder / "digits_model.py")
    torch.save({}, folder / "weights.pt")
    (folder / "model.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "digits-mlp",
                "version": "1",
                "classes": [str(i) for i in range(10)],
                "task": "multiclass",
                "entrypoint": "digits_model.py:build",
                "weights": "weights.pt",
                "input": {"channels": 1, "height": 8, "width": 8},
                "train": {"optimizer": "adam", "lr": 0.003, "epochs": epochs, "batch_size": 32},
            }
        )
    )
    return folder / "model.yaml"

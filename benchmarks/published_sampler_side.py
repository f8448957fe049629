"""The published half of published_sampler_check.py; runs under the published code's interpreter.

    python published_sampler_side.py IMPLS_DIR AGENT DATASET.npz FLAGS_JSON BATCHES BATCH_SIZE SEED OUT.npz

Loads DATASET.npz as the published main.py does (ogbench's loader, compact layout), builds AGENT's
published dataset class (GCDataset or HGCDataset) with its get_config and FLAGS_JSON's
{key: value text} (main.py's --agent.key=value flags), draws BATCHES batches and saves, for every
batch key that holds observations, the first coordinate of each sampled observation: the dataset
this script is given stores each row's own index there, so these are the sampled row indices.
Imports nothing of gcrl: only the published code and what it needs.
"""

import ast
import importlib
import json
import sys

import numpy as np


def main(impls, name, dataset_path, settings_json, batches, batch_size, seed, out) -> None:
    sys.path.insert(0, impls)
    from ogbench.utils import load_dataset
    from utils.datasets import Dataset, GCDataset, HGCDataset

    config = importlib.import_module(f"agents.{name}").get_config()
    for key, text in json.loads(settings_json).items():
        config[key] = ast.literal_eval(text)
    classes = {"GCDataset": GCDataset, "HGCDataset": HGCDataset}
    dataset = classes[config["dataset_class"]](Dataset.create(**load_dataset(dataset_path, compact_dataset=True)), config)
    np.random.seed(seed)  # main.py seeds numpy's global stream, which the published sampler draws from
    drawn = [dataset.sample(batch_size) for _ in range(batches)]
    keys = [k for k, v in drawn[0].items() if np.ndim(v) == 2 and k != "actions"]
    np.savez(out, **{k: np.concatenate([b[k][:, 0] for b in drawn]).astype(np.int64) for k in keys},
             rewards=np.concatenate([b["rewards"] for b in drawn]), masks=np.concatenate([b["masks"] for b in drawn]))  # fmt: skip


if __name__ == "__main__":
    impls, name, path, settings, batches, batch_size, seed, out = sys.argv[1:]
    main(impls, name, path, settings, int(batches), int(batch_size), int(seed), out)

"""Tevatron's DenseTrainer with the transformers-5 ``compute_loss`` / ``_save`` / ``training_step`` signatures."""
from __future__ import annotations

import os
from typing import Optional

from tevatron import trainer as tv_trainer


class DenseTrainer(tv_trainer.DenseTrainer):
    def compute_loss(self, model, inputs, return_outputs: bool = False, num_items_in_batch=None):
        query, passage = inputs
        outputs = model(query=query, passage=passage)
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super(tv_trainer.DenseTrainer, self).training_step(model, inputs, num_items_in_batch)
        return loss / self._dist_loss_scale_factor

    def _save(self, output_dir: Optional[str] = None, state_dict=None):
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        model = self.accelerator.unwrap_model(self.model) if hasattr(self, "accelerator") else self.model
        model.save(output_dir)
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)

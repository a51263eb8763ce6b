"""Measurement code: torch and torch.distributed, no Django."""

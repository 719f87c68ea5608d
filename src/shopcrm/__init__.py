"""shopcrm — a self-hosted CRM and customer data platform for online shops."""

__version__ = "0.1.0"

"""Moved to local_infra.processes (bench starts services the same way); kept so existing imports still work."""

from local_infra.processes import ServiceProcess, service_process

__all__ = ["ServiceProcess", "service_process"]

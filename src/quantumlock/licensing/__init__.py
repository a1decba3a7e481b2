"""Software licenses: generation, online and offline validation, lifecycle, quotas."""

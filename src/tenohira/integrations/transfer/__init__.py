"""Three-segment transfer (インターネット接続系 → LGWAN接続系 and statuses back): signed,
encrypted bundles with attachments made harmless. See docs/transfer.md."""

"""The service archive (履职档案): each member's verified services with their yearly and 三暖
totals, and the annual workbook of every member's year (docs/certificates-and-archive.md)."""

"""The station manager's console (/console/): server-rendered screens over the API's writes."""

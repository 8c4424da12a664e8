"""The Textual app. Calls services; never touches drivers, SQL or HTTP."""

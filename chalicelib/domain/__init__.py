"""Pure notification logic: no boto3, no chalice, no HTTP."""

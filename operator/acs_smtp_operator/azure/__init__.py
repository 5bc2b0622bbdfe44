"""Adapters to Azure Resource Manager and Microsoft Graph: the only modules that import the Azure SDKs."""

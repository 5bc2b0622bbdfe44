"""Emulators of Azure Resource Manager, Microsoft Graph and the Entra token endpoint."""

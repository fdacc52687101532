"""The data-entry form: session checks, drafts saved as typed, uploads, submit, receipt."""

"""Documents: waybill labels and evidence dossiers, rendered to PDF with WeasyPrint."""

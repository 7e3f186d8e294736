/** The document as JSON, folded away, for people who want every field. */
export function RawJson({ value, label = 'Raw JSON', open = false }: { value: unknown; label?: string; open?: boolean }) {
  return (
    <details className="raw-json" open={open}>
      <summary>{label}</summary>
      <pre tabIndex={0}>{JSON.stringify(value, null, 2)}</pre>
    </details>
  );
}

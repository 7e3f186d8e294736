interface Props {
  page: number;
  pageCount: number | null;
  hasNext: boolean;
  onPrevious(): void;
  onNext(): void;
}

/** Forward paging over a Relay connection; back is a stack of the cursors seen. */
export function Pager({ page, pageCount, hasNext, onPrevious, onNext }: Props) {
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" className="button button--secondary" onClick={onPrevious} disabled={page <= 1}>
        Previous
      </button>
      <span aria-live="polite">
        Page {page}
        {pageCount ? ` of ${pageCount}` : ''}
      </span>
      <button type="button" className="button button--secondary" onClick={onNext} disabled={!hasNext}>
        Next
      </button>
    </nav>
  );
}

/** Previous/next buttons over a list shown a page at a time, with how many there are. */
export function Pager(props: {
  total: number;
  offset: number;
  page: number;
  /** What the list holds, for the count: one "host", many "hosts". */
  one: string;
  many: string;
  onOffset: (offset: number) => void;
}) {
  return (
    <>
      <span class="muted">
        {props.total} {props.total === 1 ? props.one : props.many}
      </span>
      <button
        type="button"
        class="button"
        disabled={props.offset === 0}
        onClick={() => props.onOffset(Math.max(0, props.offset - props.page))}
      >
        Previous
      </button>
      <button
        type="button"
        class="button"
        disabled={props.total <= props.offset + props.page}
        onClick={() => props.onOffset(props.offset + props.page)}
      >
        Next
      </button>
    </>
  );
}

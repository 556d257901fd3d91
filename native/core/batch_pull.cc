#include "batch_pull.h"

#include <string>

#include "errors.h"

namespace tungsten {

BatchView projectedView(const OutputBatch& batch, const std::vector<ColumnType>& types,
                        const std::vector<uint32_t>& columns) {
  BatchView view;
  view.numRows = batch.numRows;
  for (uint32_t c : columns) {
    if (c >= batch.columns.size() || c >= types.size()) {
      throw Error(ErrorCode::kInvalidArgument, "column " + std::to_string(c) + " is not one the reader decodes");
    }
    const OutputColumn& column = batch.columns[c];
    ColumnView out;
    out.type = types[c];
    out.validity = column.nullCount > 0 ? column.validity.data.get() : nullptr;
    // Never null (column_types.h): an empty buffer may have no memory, and a null pointer would
    // read as a null var-width value.
    static const uint8_t kNothing[1] = {0};
    out.values = column.values.data ? column.values.data.get() : kNothing;
    out.offsets = column.offsets.data.get();
    view.columns.push_back(out);
  }
  return view;
}

}  // namespace tungsten
